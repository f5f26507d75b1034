import type { z } from "zod";
import { InvalidInputError } from "./errors";

/** Core operations validate their own input: a caller that skips the edge's checks still cannot write nonsense. */
export function parseInput<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidInputError(
      issue ? `${issue.path.join(".") || "input"}: ${issue.message}` : "Invalid input",
      {
        issues: parsed.error.issues,
      },
    );
  }
  return parsed.data;
}
