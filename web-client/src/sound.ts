// Short sounds made with WebAudio (no files to download): dice, dudo, a lost die, your turn.
export type Sound = "dice" | "dudo" | "lose" | "turn" | "win";

let ctx: AudioContext | null = null;

function audio(): AudioContext | null {
  if (typeof AudioContext === "undefined") return null;
  ctx ??= new AudioContext();
  if (ctx.state === "suspended") void ctx.resume().catch(() => {});
  return ctx;
}

function tone(a: AudioContext, freq: number, start: number, dur: number, type: OscillatorType, gain = 0.12, endFreq?: number): void {
  const osc = a.createOscillator();
  const g = a.createGain();
  osc.type = type;
  osc.frequency.setValueAtTime(freq, a.currentTime + start);
  if (endFreq) osc.frequency.exponentialRampToValueAtTime(endFreq, a.currentTime + start + dur);
  g.gain.setValueAtTime(0.0001, a.currentTime + start);
  g.gain.exponentialRampToValueAtTime(gain, a.currentTime + start + 0.01);
  g.gain.exponentialRampToValueAtTime(0.0001, a.currentTime + start + dur);
  osc.connect(g).connect(a.destination);
  osc.start(a.currentTime + start);
  osc.stop(a.currentTime + start + dur + 0.02);
}

export function play(sound: Sound): void {
  const a = audio();
  if (!a) return;
  switch (sound) {
    case "dice":
      for (let i = 0; i < 6; i++) tone(a, 180 + Math.random() * 220, i * 0.045, 0.04, "square", 0.05);
      break;
    case "dudo":
      tone(a, 220, 0, 0.25, "sawtooth", 0.08, 110);
      break;
    case "lose":
      tone(a, 440, 0, 0.18, "triangle", 0.12, 330);
      tone(a, 330, 0.18, 0.3, "triangle", 0.12, 196);
      break;
    case "turn":
      tone(a, 660, 0, 0.12, "sine", 0.12);
      tone(a, 880, 0.13, 0.18, "sine", 0.12);
      break;
    case "win":
      [523, 659, 784, 1047].forEach((f, i) => tone(a, f, i * 0.12, 0.2, "triangle", 0.1));
      break;
  }
}

/** Unlocks audio inside a user gesture (browsers start contexts suspended). */
export function unlock(): void {
  audio();
}
