/**
 * What `pulumi package add <this repository>` offers Python, Go, C#, Java and YAML programs: the room and the provider
 * component. The language host finds the component classes among these exports and serves their schema, inferred from
 * the TypeScript sources.
 */
export { DataCleanRoom, DataProvider } from "../src/components/index.js";
