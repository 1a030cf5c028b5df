/** A promise with its resolve and reject at hand, for a fake to settle when the test says so. */
export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Lets every pending promise callback run: a macrotask starts only after the microtask queue
 * is empty. Used to show that something did *not* happen, never to wait for something to happen.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
