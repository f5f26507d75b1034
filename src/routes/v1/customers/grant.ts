import { customerRoute } from "@/server/customer-route";
import userRoute from "../grant";

/** The customer's twin of src/routes/v1/grant.ts (see customerRoute): the same route under /customers/{externalId}. */
export default customerRoute(userRoute);
