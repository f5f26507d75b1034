// The mail server of the end-to-end run: a real SMTP server (smtp-server) that the app sends to, and a small
// HTTP inbox the browser tests read from (the app runs in another process). Started by playwright.config.ts.
//   SMTP on MAIL_CATCHER_SMTP_PORT; GET /messages?to=<address> on MAIL_CATCHER_HTTP_PORT answers
//   [{subject, text, html}] in the order received; GET /health answers 200.
import http from "node:http";
import { startSmtpServer } from "../../support/smtp";

async function main(): Promise<void> {
  const smtpPort = Number(process.env.MAIL_CATCHER_SMTP_PORT);
  const httpPort = Number(process.env.MAIL_CATCHER_HTTP_PORT);
  const smtp = await startSmtpServer({ port: smtpPort });

  const inbox = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/health") {
      response.end("ok");
      return;
    }
    if (url.pathname !== "/messages") {
      response.writeHead(404).end();
      return;
    }
    const to = url.searchParams.get("to")?.toLowerCase();
    const messages = smtp.messages
      .filter((message) => !to || message.to.some((address) => address.toLowerCase() === to))
      .map(({ subject, text, html }) => ({ subject, text, html }));
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(messages));
  });
  inbox.listen(httpPort, "127.0.0.1", () => {
    console.log(`mail catcher: SMTP on 127.0.0.1:${smtp.port}, inbox on http://127.0.0.1:${httpPort}`);
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      inbox.close();
      void smtp.close().finally(() => process.exit(0));
    });
  }
}

void main();
