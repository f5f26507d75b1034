import { EventEmitter } from "node:events";

/** One link the app mailed (or, without SMTP, logged) to an address. */
export type MailedLink = { userId: string; email: string; url: string };

/**
 * Where the links the app emails also go: `link` for email verification, `password-link` for setting a
 * password (a password reset). Without a mailer they are in the server log (for a developer to open);
 * this emitter is for tests, and for wiring another mailer without touching the auth configuration.
 */
export const verificationLinks = new EventEmitter<{
  link: [MailedLink];
  "password-link": [MailedLink];
}>();
