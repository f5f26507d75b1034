import { listPackagesOnSale, packageName } from "@/credits/packages";

export function GET(): Response {
  const packages = listPackagesOnSale().map((pkg) => ({
    id: pkg.id,
    name: packageName(pkg),
    credits: pkg.credits,
    price: pkg.price,
    popular: pkg.popular,
    ...(pkg.expireDays ? { expireDays: pkg.expireDays } : {}),
  }));
  return Response.json({ packages });
}
