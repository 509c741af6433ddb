import { spawn, type ChildProcess } from 'node:child_process'

/** A child server process we can stop (SIGTERM, then SIGKILL), freeze (SIGSTOP) and thaw. */
export interface ManagedProcess {
  child: ChildProcess
  output: () => string
  stop: () => Promise<void>
}

export function startProcess (command: string, args: string[]): ManagedProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-10_000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return {
    child,
    output: () => output,
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGCONT')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000)
      await exited
      clearTimeout(timer)
    }
  }
}
