// The digest's PNG charts keep their text without system fonts (the Lambda image has none): the
// shipped DejaVu Sans (assets/fonts, Bitstream Vera license) is found and draws the labels; with no
// font at all the same SVG renders no glyphs. And the charts have axes with units.
import { readFileSync } from 'node:fs';
import { shippedFont } from '../lib/render/email';
import { functionBarsSvg, seriesSvg } from '../lib/render/digest-html';

const inked = (svg: string, fontFiles: string[]): number => {
  const { Resvg } = require('@resvg/resvg-js') as typeof import('@resvg/resvg-js');
  const img = new Resvg(svg, { background: '#ffffff', font: { loadSystemFonts: false, fontFiles, defaultFontFamily: 'DejaVu Sans' } }).render();
  const px = img.pixels;
  let n = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] < 128) n++;
  return n;
};

test('the shipped font is found, licensed, and draws chart text where no system font exists', () => {
  const font = shippedFont();
  expect(font).toMatch(/assets\/fonts\/DejaVuSans\.ttf$/);
  expect(readFileSync(font!.replace('DejaVuSans.ttf', 'LICENSE-DejaVu.txt'), 'utf8')).toMatch(/Permission is hereby granted, free of charge/);
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="5" y="25" font-size="16" font-family="DejaVu Sans">main.leak 12 MiB</text></svg>';
  expect(inked(svg, [])).toBe(0);
  expect(inked(svg, [font!])).toBeGreaterThan(100);
});

test('charts have value axes with units', () => {
  const s = seriesSvg({ metric: 'heap in use held by main.leak per instance', unit: 'bytes', base: [2e6, 2.2e6], target: [1.08e8, 1.1e8], replicate: 'instance' });
  expect(s).toMatch(/baseline instances \(grey dots\) vs window instances/);
  expect(s).toMatch(/>\d+(\.\d+)?MiB</);
  expect(s).toMatch(/>bytes</);
  const b = functionBarsSvg([{ name: 'main.f', base: 0.1, target: 0.6, delta: 0.5, p_value: 0.01, significant: true }], 'share');
  expect(b).toMatch(/>\d+\.\d%</);
  expect(b).toMatch(/share \(share of the total, %\)/);
});
