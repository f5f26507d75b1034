import { createHash } from "node:crypto";

/**
 * The demo feature's "model": a deterministic SVG drawn from the prompt's hash. Same prompt, same picture;
 * no external service, so it runs offline and in tests.
 */
export function renderPromptSvg(prompt: string): string {
  const digest = createHash("sha256").update(prompt.trim()).digest();
  const byte = (index: number) => digest[index % digest.length] ?? 0;
  const hue = (index: number) => Math.round((byte(index) / 255) * 360);
  const shapes: string[] = [];
  for (let i = 0; i < 9; i++) {
    const x = 16 + (byte(i * 3) % 224);
    const y = 16 + (byte(i * 3 + 1) % 224);
    const size = 18 + (byte(i * 3 + 2) % 70);
    const color = `hsl(${hue(i + 5)} 75% 60% / 0.75)`;
    shapes.push(
      i % 3 === 0
        ? `<circle cx="${x}" cy="${y}" r="${size / 2}" fill="${color}"/>`
        : i % 3 === 1
          ? `<rect x="${x - size / 2}" y="${y - size / 2}" width="${size}" height="${size}" rx="${size / 6}" fill="${color}" transform="rotate(${byte(i + 11) % 90} ${x} ${y})"/>`
          : `<polygon points="${x},${y - size / 2} ${x + size / 2},${y + size / 2} ${x - size / 2},${y + size / 2}" fill="${color}"/>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 256 256" width="256" height="256" role="img">`,
    `<defs><linearGradient id="bg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl(${hue(0)} 60% 22%)"/><stop offset="1" stop-color="hsl(${hue(1)} 60% 40%)"/></linearGradient></defs>`,
    `<rect width="256" height="256" fill="url(#bg)"/>`,
    ...shapes,
    `</svg>`,
  ].join("");
}
