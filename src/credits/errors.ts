/**
 * Real failures carry a literal `code` that maps to one HTTP status at the edge
 * (src/server/http-errors.ts). Expected business outcomes such as insufficient credits are not
 * errors: operations return them as data.
 */
export class CreditsError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly context: Record<string, unknown>;

  constructor(
    code: Code,
    message: string,
    options: { context?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = options.context ?? {};
  }
}

/** The same idempotency key was reused with different parameters: answering either would be a lie. */
export class IdempotencyConflictError extends CreditsError<"idempotency_conflict"> {
  constructor(context: Record<string, unknown>) {
    super("idempotency_conflict", "This idempotency key was already used with different parameters.", {
      context,
    });
  }
}

export class InvalidInputError extends CreditsError<"invalid_input"> {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super("invalid_input", message, { context });
  }
}

export class NotFoundError extends CreditsError<"not_found"> {
  constructor(what: string, context: Record<string, unknown> = {}) {
    super("not_found", `${what} was not found.`, { context });
  }
}

/**
 * No account has this external id (src/credits/find-customer.ts). Routes under /customers/{externalId}
 * answer it instead of creating the account: a spend or a grant for a misspelt id must not open a new ledger.
 */
export class CustomerNotFoundError extends CreditsError<"customer_not_found"> {
  constructor(externalId: string) {
    super("customer_not_found", "No customer has this external id.", { context: { externalId } });
  }
}

export class PackageUnavailableError extends CreditsError<"package_unavailable"> {
  constructor(packageId: string) {
    super("package_unavailable", "This credit package does not exist or is not on sale.", {
      context: { packageId },
    });
  }
}

/** The hold was already captured, released or expired: its credits are no longer reserved. */
export class HoldNotOpenError extends CreditsError<"hold_not_open"> {
  constructor(holdId: string, status: string) {
    super("hold_not_open", `This hold is ${status}, not open.`, { context: { holdId, status } });
  }
}
