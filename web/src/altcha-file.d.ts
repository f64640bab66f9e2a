// Files of the altcha package served as assets of their own (scripts/build.mjs): the URL.
declare module "altcha-file:*" {
  const url: string;
  export default url;
}
