// hls.js's light build has the full build's API (without subtitles, alternative audio and
// DRM), but the package ships types only for the full one.
declare module "hls.js/light" {
  export { default } from "hls.js";
}
