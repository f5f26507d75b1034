import type { LucideIcon } from "lucide-react";
import type * as React from "react";
import { Table, TableBody, TableCell, TableHeader, TableRow } from "@/components/ui/table";
import { cn } from "@/lib/utils";

/**
 * Tables of the admin console. From md up they are ordinary tables; below md each row stacks into a card
 * of "label: value" lines (the label comes from `data-label` through ::before), with one DOM for both.
 */
export function StackedTable({ className, ...props }: React.ComponentProps<typeof Table>) {
  return <Table className={cn("max-md:block", className)} {...props} />;
}

export function StackedHeader({ className, ...props }: React.ComponentProps<typeof TableHeader>) {
  return <TableHeader className={cn("max-md:hidden", className)} {...props} />;
}

export function StackedBody({ className, ...props }: React.ComponentProps<typeof TableBody>) {
  return <TableBody className={cn("max-md:block", className)} {...props} />;
}

export function StackedRow({ className, ...props }: React.ComponentProps<typeof TableRow>) {
  return (
    <TableRow
      className={cn("max-md:flex max-md:flex-col max-md:gap-1.5 max-md:px-6 max-md:py-4", className)}
      {...props}
    />
  );
}

/** `label` shows before the value on small screens; cells without one (the row's title) span the card. */
export function StackedCell({
  label,
  className,
  children,
  ...props
}: React.ComponentProps<typeof TableCell> & { label?: string }) {
  return (
    <TableCell
      data-label={label}
      className={cn(
        "max-md:p-0",
        label &&
          "max-md:flex max-md:items-center max-md:justify-between max-md:gap-4 max-md:text-right max-md:before:shrink-0 max-md:before:text-left max-md:before:text-muted-foreground max-md:before:text-xs max-md:before:content-[attr(data-label)]",
        className,
      )}
      {...props}
    >
      {/* One box for the value, so the mobile flex row has exactly two items: the label and the value. */}
      {label ? <div className="min-w-0">{children}</div> : children}
    </TableCell>
  );
}

export function EmptyState({
  icon: Icon,
  title,
  text,
  testId,
}: {
  icon: LucideIcon;
  title: string;
  text?: string;
  testId?: string;
}) {
  return (
    <div data-testid={testId} className="flex flex-col items-center gap-2 px-6 py-12 text-center">
      <span className="flex size-11 items-center justify-center rounded-full bg-muted text-muted-foreground">
        <Icon className="size-5" aria-hidden />
      </span>
      <p className="mt-1 font-medium">{title}</p>
      {text ? <p className="text-muted-foreground text-sm">{text}</p> : null}
    </div>
  );
}
