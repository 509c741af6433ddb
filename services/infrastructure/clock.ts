/** Time source injected into services, so tests can move time without sleeping. */
export interface Clock {
  now: () => number
}
