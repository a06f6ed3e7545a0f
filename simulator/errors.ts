/**
 * The simulator's coded errors. The simulator is a separate program (it imports nothing from the
 * gateway), so its codes live here; the code strings are stable (tests and logs match on them).
 * Format errors of what it publishes are wire/'s (MeltPoolFormatError, LG_SIM_BLOCK_MALFORMED).
 */
export class SimulatorError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'SimulatorError';
  }
}

/** The simulator's CLI flags or control API got an unknown fault/defect, a bad parameter or a bad request body. */
export class SimulatorRequestError extends SimulatorError {
  static readonly code = 'LG_SIM_BAD_REQUEST';
  constructor(message: string, options?: { cause?: unknown }) {
    super(SimulatorRequestError.code, message, options);
    this.name = 'SimulatorRequestError';
  }
}
