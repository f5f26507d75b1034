import type { ReactNode } from "react";

/** The frame of a section with its own side navigation (settings, admin): heading, nav, content. */
export function SectionShell({
  title,
  subtitle,
  nav,
  children,
}: {
  title: string;
  subtitle: string;
  nav: ReactNode;
  children: ReactNode;
}) {
  return (
    <div className="mx-auto w-full max-w-6xl px-4 py-8 sm:px-6 sm:py-12">
      <div className="mb-8">
        <h1 className="font-semibold text-2xl tracking-tight sm:text-3xl">{title}</h1>
        <p className="mt-1 text-muted-foreground">{subtitle}</p>
      </div>
      <div className="flex flex-col gap-6 md:flex-row md:gap-10">
        <aside className="border-b pb-3 md:w-48 md:shrink-0 md:border-b-0 md:pb-0">{nav}</aside>
        <div className="min-w-0 flex-1">{children}</div>
      </div>
    </div>
  );
}
