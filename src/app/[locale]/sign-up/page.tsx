import type { Metadata } from "next";
import { AuthPage, type AuthPageProps, authPageMetadata } from "@/components/auth/auth-page";

export function generateMetadata(props: Pick<AuthPageProps, "params">): Promise<Metadata> {
  return authPageMetadata("sign-up", props);
}

export default function SignUpPage(props: AuthPageProps) {
  return <AuthPage mode="sign-up" {...props} />;
}
