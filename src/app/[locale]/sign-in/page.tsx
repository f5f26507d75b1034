import type { Metadata } from "next";
import { redirectSignedIn } from "@/auth/require-session";
import {
  AuthPage,
  type AuthPageProps,
  authPageMetadata,
  readAuthPageProps,
} from "@/components/auth/auth-page";

export function generateMetadata(props: Pick<AuthPageProps, "params">): Promise<Metadata> {
  return authPageMetadata("sign-in", props);
}

export default async function SignInPage(props: AuthPageProps) {
  const { locale, next } = await readAuthPageProps(props);
  // Already signed in: go where the form would have sent them.
  await redirectSignedIn(locale, next);
  return <AuthPage mode="sign-in" next={next} />;
}
