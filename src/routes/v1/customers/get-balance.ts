import { customerRoute } from "@/server/customer-route";
import userRoute from "../get-balance";

/** The customer's twin of src/routes/v1/get-balance.ts (see customerRoute): the same route under /customers/{externalId}. */
export default customerRoute(userRoute);
