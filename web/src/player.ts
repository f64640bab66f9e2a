// The stream page's video: HLS from nginx (docs/STREAMS.md). Natively where the browser plays
// HLS itself (Safari, iOS, Chromium since it has its own HLS player); elsewhere hls.js, its
// light build, fetched only when such a browser first plays a stream (117 KB gzipped: never
// part of the map's first load, nor of this page for a browser that does not need it).
import type HlsType from "hls.js";

export class Player {
  private hls: HlsType | null = null;
  private url: string | null = null;

  /** onTrouble: the video stopped on its own (the broadcast ended, or the playlist is gone);
   * the player has stopped, and plays again when asked to. */
  constructor(
    readonly video: HTMLVideoElement,
    private onTrouble: () => void,
  ) {
    // A live stream starts muted: browsers refuse to start one with sound before a tap. The
    // controls unmute it.
    video.muted = true;
    video.playsInline = true;
    video.addEventListener("error", () => this.trouble());
    video.addEventListener("ended", () => this.trouble());
  }

  get playing() {
    return this.url !== null;
  }

  async play(url: string) {
    if (this.url === url) return;
    this.stop();
    this.url = url;
    if (this.video.canPlayType("application/vnd.apple.mpegurl")) {
      this.video.src = url;
    } else {
      // The light build: no subtitles, alternative audio or DRM, which a single-quality
      // broadcast from OBS never has.
      const { default: Hls } = await import("hls.js/light");
      if (this.url !== url) return; // stopped while loading
      if (!Hls.isSupported()) throw new Error("no HLS");
      // No worker: the page's policy allows workers from this origin only, not hls.js's blob.
      const hls = new Hls({ enableWorker: false, liveSyncDurationCount: 3 });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        // A network error on a live stream: the playlist is gone (the broadcast stopped) or
        // the connection dropped. The page asks the stream's state and plays again if live.
        if (this.hls === hls) this.trouble();
      });
      hls.loadSource(url);
      hls.attachMedia(this.video);
      this.hls = hls;
    }
    this.video.play().catch(() => {
      // refused (no tap yet on a browser that wants one even muted): the controls start it
    });
  }

  // Stopped, so that playing the same address again starts afresh.
  private trouble() {
    if (!this.url) return;
    this.stop();
    this.onTrouble();
  }

  stop() {
    this.url = null;
    this.hls?.destroy();
    this.hls = null;
    if (this.video.hasAttribute("src")) {
      this.video.removeAttribute("src");
      this.video.load();
    }
  }
}
