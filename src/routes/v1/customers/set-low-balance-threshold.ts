import { customerRoute } from "@/server/customer-route";
import userRoute from "../set-low-balance-threshold";

/**
 * The customer's twin of src/routes/v1/set-low-balance-threshold.ts (see customerRoute): the same route under
 * /customers/{externalId}, so a backend sets a customer's `balance.low` threshold by its own id.
 */
export default customerRoute(userRoute);
