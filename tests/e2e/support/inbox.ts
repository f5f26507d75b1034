import { expect } from "@playwright/test";

type InboxMessage = { subject: string; text: string; html: string };

/**
 * The newest email-verification link sent to `email`, read from the mail catcher's inbox (the app sent it
 * over SMTP), waiting for it to arrive.
 */
export async function verificationLinkFor(email: string): Promise<string> {
  const inbox = process.env.E2E_INBOX_URL;
  if (!inbox) throw new Error("E2E_INBOX_URL is not set: run the tests through playwright.config.ts");
  let link: string | undefined;
  await expect
    .poll(
      async () => {
        const response = await fetch(`${inbox}/messages?to=${encodeURIComponent(email)}`);
        const messages = (await response.json()) as InboxMessage[];
        link = messages.at(-1)?.text.match(/https?:\/\/\S+\/api\/auth\/verify-email\?\S+/)?.[0];
        return link;
      },
      { message: `a verification email to ${email}`, timeout: 15_000 },
    )
    .toBeDefined();
  return link as string;
}

/**
 * The newest set-password link (Better Auth's password-reset link) sent to `email`, waiting for it to
 * arrive: the app mails one when an ADMIN_EMAILS address is verified, and on "Forgot your password?".
 */
export async function passwordLinkFor(email: string): Promise<string> {
  const inbox = process.env.E2E_INBOX_URL;
  if (!inbox) throw new Error("E2E_INBOX_URL is not set: run the tests through playwright.config.ts");
  let link: string | undefined;
  await expect
    .poll(
      async () => {
        const response = await fetch(`${inbox}/messages?to=${encodeURIComponent(email)}`);
        const messages = (await response.json()) as InboxMessage[];
        link = messages
          .map((message) => message.text.match(/https?:\/\/\S+\/api\/auth\/reset-password\/\S+/)?.[0])
          .filter(Boolean)
          .at(-1);
        return link;
      },
      { message: `a set-password email to ${email}`, timeout: 15_000 },
    )
    .toBeDefined();
  return link as string;
}

/** Every email the mail catcher received for `email` so far, oldest first (subject and plain text). */
export async function messagesTo(email: string): Promise<InboxMessage[]> {
  const inbox = process.env.E2E_INBOX_URL;
  if (!inbox) throw new Error("E2E_INBOX_URL is not set: run the tests through playwright.config.ts");
  const response = await fetch(`${inbox}/messages?to=${encodeURIComponent(email)}`);
  return (await response.json()) as InboxMessage[];
}
