import { EventEmitter } from "node:events";

/**
 * Where email-verification links go when no mailer is configured: the server log (for a developer to open)
 * and this emitter (for tests, and for wiring a real mailer without touching the auth configuration).
 */
export const verificationLinks = new EventEmitter<{
  link: [{ userId: string; email: string; url: string }];
}>();
