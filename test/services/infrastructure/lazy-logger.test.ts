import { pino } from 'pino'
import t from 'tap'
import { lazyChildLogger, type ParentLogger } from '../../../services/infrastructure/lazy-logger.js'

t.test('the request logger becomes a real child only when it logs at an enabled level', async (t) => {
  const lines: string[] = []
  const parent = pino({ level: 'warn' }, { write: (line: string) => { lines.push(line) } })
  let children = 0
  const child = parent.child.bind(parent)
  parent.child = ((bindings: Record<string, unknown>, options?: object) => { children++; return child(bindings, options) }) as typeof parent.child

  const logger = lazyChildLogger(parent as unknown as ParentLogger, { reqId: 'req-1' }, {})
  logger.info('incoming request')
  logger.debug('details')
  t.equal(children, 0, 'disabled levels create nothing')
  t.same(lines, [])
  t.equal(logger.isLevelEnabled('info'), false)

  logger.error({ code: 'X' }, 'it broke')
  logger.warn('and again')
  t.equal(children, 1, 'one child, made on the first enabled log line')
  t.equal(lines.length, 2)
  t.match(JSON.parse(lines[0]!), { level: 50, reqId: 'req-1', code: 'X', msg: 'it broke' }, 'with the request id bound')

  const routeLevel = lazyChildLogger(parent as unknown as ParentLogger, { reqId: 'req-2' }, { level: 'debug' })
  t.equal(children, 2, 'a route log level gets a real child at once')
  t.equal(routeLevel.level, 'debug')
})
