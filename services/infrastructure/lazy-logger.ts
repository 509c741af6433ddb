/**
 * A request logger that becomes a real pino child only when something is logged at an enabled
 * level. Fastify makes a child logger (with the request id bound, and our redaction applied to the
 * bindings) for every request; at the production level (warn) nearly every one of them is created
 * and never used, which showed up as a few percent of an authenticated request's CPU.
 */
type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type LogFn = (...args: unknown[]) => void

export interface ParentLogger {
  level: string
  isLevelEnabled: (level: string) => boolean
  child: (bindings: Record<string, unknown>, options?: object) => ParentLogger & Record<LevelName | 'silent', LogFn>
}

class LazyChildLogger {
  #child: ReturnType<ParentLogger['child']> | undefined
  constructor (private readonly parent: ParentLogger, private readonly bindings: Record<string, unknown>, private readonly options: object) {}

  get level (): string { return this.#child?.level ?? this.parent.level }
  set level (level: string) { this.real().level = level }

  real (): ReturnType<ParentLogger['child']> {
    return (this.#child ??= this.parent.child(this.bindings, this.options))
  }

  isLevelEnabled (level: string): boolean { return this.#child?.isLevelEnabled(level) ?? this.parent.isLevelEnabled(level) }
  child (bindings: Record<string, unknown>, options?: object) { return this.real().child(bindings, options) }
  silent (): void {}
  fatal (...args: unknown[]): void { this.log('fatal', args) }
  error (...args: unknown[]): void { this.log('error', args) }
  warn (...args: unknown[]): void { this.log('warn', args) }
  info (...args: unknown[]): void { this.log('info', args) }
  debug (...args: unknown[]): void { this.log('debug', args) }
  trace (...args: unknown[]): void { this.log('trace', args) }

  private log (level: LevelName, args: unknown[]): void {
    if (this.#child === undefined && !this.parent.isLevelEnabled(level)) return
    this.real()[level](...args)
  }
}

/** For Fastify's `childLoggerFactory` option. A route with its own log level gets a real child at once. */
export function lazyChildLogger (parent: ParentLogger, bindings: Record<string, unknown>, options: { level?: string }): LazyChildLogger | ReturnType<ParentLogger['child']> {
  if (options.level !== undefined) return parent.child(bindings, options)
  return new LazyChildLogger(parent, bindings, options)
}
