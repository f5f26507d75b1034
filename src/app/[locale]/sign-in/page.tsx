import type { Metadata } from "next";
import { AuthPage, type AuthPageProps, authPageMetadata } from "@/components/auth/auth-page";

export function generateMetadata(props: Pick<AuthPageProps, "params">): Promise<Metadata> {
  return authPageMetadata("sign-in", props);
}

export default function SignInPage(props: AuthPageProps) {
  return <AuthPage mode="sign-in" {...props} />;
}
