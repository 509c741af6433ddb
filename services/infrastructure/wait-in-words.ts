/** A Retry-After delay as a person reads it: "1 second", "45 seconds", "15 minutes", "24 hours". */
export function waitInWords (seconds: number): string {
  const [amount, unit] = seconds < 90
    ? [Math.max(1, Math.ceil(seconds)), 'second']
    : seconds < 90 * 60 ? [Math.ceil(seconds / 60), 'minute'] : [Math.ceil(seconds / 3600), 'hour']
  return `${amount} ${unit}${amount === 1 ? '' : 's'}`
}

/** "…; try again later" becomes "…; try again in 45 seconds"; any other message gets the wait appended. */
export function withWait (message: string, seconds: number): string {
  const wait = `in ${waitInWords(seconds)}`
  return /\blater$/.test(message) ? message.replace(/\blater$/, wait) : `${message} (try again ${wait})`
}
