import { z } from "zod";

const uuidSchema = z.uuid();

/** Path ids that are not UUIDs cannot name a hold: answer 404 without asking the database. */
export function isUuid(value: string): boolean {
  return uuidSchema.safeParse(value).success;
}
