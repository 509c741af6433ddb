import { AsyncLocalStorage } from 'node:async_hooks'

/** The reason a MongoDB operation was cut off: the request (or background task) ran out of MongoDB time. */
export class MongoDeadlineError extends Error {
  // A getter, not an own property: the driver copies an abort reason's enumerable properties onto
  // its own error, whose `name` is a getter (an own `name` here made that copy throw).
  override get name (): string { return 'MongoDeadlineError' }
}

interface Budget {
  ms: number
  controller?: AbortController
}

const budgets = new AsyncLocalStorage<Budget>()

/**
 * Runs `work`, and everything it starts, with `ms` of MongoDB time in total: every MongoDB
 * operation started inside shares one deadline, `ms` after the first one started
 * (services/models/mongo-budget-plugin.ts hands the driver its AbortSignal), so a request that
 * makes three calls to a frozen server answers after `ms`, not three times `ms` (nor after the
 * driver's socket timeout).
 */
export function withMongoBudget<T> (ms: number, work: () => T): T {
  return budgets.run({ ms }, work)
}

/**
 * The signal MongoDB operations started now must obey, or undefined outside any budget (boot,
 * tests driving models directly), where the driver's own timeouts apply. Made on first use (the
 * budget starts then), so a request that never touches MongoDB costs no timer.
 */
export function mongoSignal (): AbortSignal | undefined {
  const budget = budgets.getStore()
  if (budget === undefined) return undefined
  if (budget.controller === undefined) {
    const controller = new AbortController()
    setTimeout(() => { controller.abort(new MongoDeadlineError(`MongoDB did not answer within the ${budget.ms} ms budget`)) }, budget.ms).unref()
    budget.controller = controller
  }
  return budget.controller.signal
}
