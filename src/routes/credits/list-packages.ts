import { listPackagesOnSale, packageName } from "@/catalog/packages";
import { defineRoute } from "@/server/define-route";

/** GET /api/credits/packages: the packages on sale (prices in minor units, decided by the server). */
export default defineRoute({
  method: "GET",
  path: "/api/credits/packages",
  handler: () => {
    const packages = listPackagesOnSale().map((pkg) => ({
      id: pkg.id,
      name: packageName(pkg),
      credits: pkg.credits,
      price: pkg.price,
      popular: pkg.popular,
      ...(pkg.expireDays ? { expireDays: pkg.expireDays } : {}),
    }));
    return Response.json({ packages });
  },
});
