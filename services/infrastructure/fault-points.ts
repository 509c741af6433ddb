/**
 * Fault points: named places in a flow where a test can stop the process dead (tests/services/
 * events/no-loss.test.ts parks the request there forever and starts a fresh instance on the same
 * databases, which is what a `kill -9` at that point leaves behind). In production no hook is set
 * and a fault point is one comparison.
 */
export type FaultHook = (point: string) => Promise<void> | undefined

let hook: FaultHook | undefined

/** Tests only: install (or remove, with undefined) the hook every fault point calls. */
export function setFaultHook (next: FaultHook | undefined): void {
  hook = next
}

/** Returns undefined (nothing to await) unless a test installed a hook. */
export function faultPoint (point: string): Promise<void> | undefined {
  return hook === undefined ? undefined : hook(point)
}
