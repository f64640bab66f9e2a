// When a socket that closed opens again. A replica that shuts down (a deploy, a restart) closes
// its sockets with 4012 "server restart" (instance/wire.ServerRestart) after it has stopped
// taking connections: the app reconnects at once, through nginx to a replica that runs, and
// resumes by its cursor. The jitter spreads a replica's thousands of sockets over a quarter
// second instead of one instant. Any other close waits its backoff.

export const SERVER_RESTART = 4012;

/** Milliseconds to wait before reconnecting a socket closed with `code`: 0–250 after a server restart, else `backoff` ± 25 %. */
export function reconnectDelay(code: number, backoff: number): number {
  if (code === SERVER_RESTART) return Math.random() * 250;
  return backoff * (0.75 + Math.random() * 0.5);
}
