import { customerRoute } from "@/server/customer-route";
import userRoute from "../create-hold";

/** The customer's twin of src/routes/v1/create-hold.ts (see customerRoute): the same route under /customers/{externalId}. */
export default customerRoute(userRoute);
