// How long an e2e step waits for what it expects, in ms: a safety net for a busy machine, not
// what a step is expected to take. Every wait is for something to appear (an element, a frame,
// a state), never for time to pass.
export const patience = 30000;
