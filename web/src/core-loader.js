// Live2D Cubism Core is proprietary and not on npm: the page loads it at run
// time with a <script> tag from config.coreUrl, and only then imports the
// Live2D module (pixi-live2d-display/cubism4 reads the global
// Live2DCubismCore when it is imported).

export function loadCubismCore(url, { timeoutMs = 10000 } = {}) {
  if (globalThis.Live2DCubismCore) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    const timer = setTimeout(() => fail(`timed out after ${timeoutMs / 1000} s`), timeoutMs);
    function fail(why) {
      clearTimeout(timer);
      script.remove();
      reject(new Error(`Live2D Cubism Core could not be loaded from ${url} (${why})`));
    }
    script.src = url;
    script.async = true;
    script.onload = () => {
      clearTimeout(timer);
      if (globalThis.Live2DCubismCore) resolve();
      else fail("the script ran but defined no Live2DCubismCore");
    };
    script.onerror = () => fail("network error or blocked");
    document.head.appendChild(script);
  });
}
