import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { schemaMarkdown } from '../lib/model/schema-doc';

// `npm run docs`: regenerate the documents that are derived from code.
const root = path.resolve(__dirname, '..', __dirname.includes(`${path.sep}dist${path.sep}`) ? '..' : '');
writeFileSync(path.join(root, 'docs/schema.md'), schemaMarkdown());
