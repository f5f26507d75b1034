import { customerRoute } from "@/server/customer-route";
import userRoute from "../consume";

/** The customer's twin of src/routes/v1/consume.ts (see customerRoute): the same route under /customers/{externalId}. */
export default customerRoute(userRoute);
