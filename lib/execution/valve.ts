/**
 * Back-pressure between a projection's row writer and the cursors feeding it. RxJS has none:
 * the writer closes the valve while enough batches wait, the cursors pause until it opens.
 */
export class Valve {
  private isOpen = true;
  private readonly listeners = new Set<() => void>();

  get open(): boolean {
    return this.isOpen;
  }

  close(): void {
    this.isOpen = false;
  }

  release(): void {
    if (this.isOpen) return;
    this.isOpen = true;
    for (const listener of [...this.listeners]) listener();
  }

  /** Calls `listener` each time the valve opens; returns the unsubscribe. */
  onOpen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
