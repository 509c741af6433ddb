import { connect, createServer, type Socket } from 'node:net'
import { freePort } from './ports.js'

/**
 * A TCP proxy in front of a test server that can hold back what clients send: pause() stops
 * forwarding client bytes (requests wait, as behind a stalled network path), resume() delivers
 * them. Answers already on their way still arrive. Used to stall one app instance's MongoDB
 * traffic at an exact point while another instance carries on, and to see which Redis commands a
 * request sends before it waits for an answer.
 */
export async function startTcpProxy (targetPort: number) {
  const port = await freePort()
  let paused = false
  const held: Array<{ upstream: Socket, chunk: Buffer }> = []
  const sockets = new Set<Socket>()

  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    client.on('data', (chunk: Buffer) => { if (paused) held.push({ upstream, chunk }); else upstream.write(chunk) })
    upstream.on('data', (chunk: Buffer) => { client.write(chunk) })
    const close = (): void => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
    client.on('close', close).on('error', close)
    upstream.on('close', close).on('error', close)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))

  return {
    port,
    pause (): void { paused = true },
    /** What clients sent while paused, not yet delivered (to see which commands left together). */
    held (): string { return Buffer.concat(held.map(({ chunk }) => chunk)).toString('latin1') },
    resume (): void {
      paused = false
      for (const { upstream, chunk } of held.splice(0)) if (!upstream.destroyed) upstream.write(chunk)
    },
    async close (): Promise<void> {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

export type TcpProxy = Awaited<ReturnType<typeof startTcpProxy>>
