import { customerRoute } from "@/server/customer-route";
import userRoute from "../list-transactions";

/** The customer's twin of src/routes/v1/list-transactions.ts (see customerRoute): the same route under /customers/{externalId}. */
export default customerRoute(userRoute);
