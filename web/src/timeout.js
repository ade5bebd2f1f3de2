// A promise that rejects with `what` when `promise` has not settled within `ms`:
// a model URL that never answers must end in the built-in avatar and a note,
// not in a page waiting for ever.
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(what)), ms);
    }),
  ]);
}
