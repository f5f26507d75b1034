import { getAuth } from "@/auth/session";
import { getServerEnv } from "@/config/env";
import { withClientAddress } from "@/server/client-address";

/** Better Auth's endpoints; its limiter keys on the client address worked out here (src/server/client-address.ts). */
async function handle(request: Request): Promise<Response> {
  const auth = await getAuth();
  return auth.handler(withClientAddress(request, getServerEnv().TRUST_PROXY));
}

export { handle as GET, handle as POST };
