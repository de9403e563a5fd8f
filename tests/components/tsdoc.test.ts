/**
 * The components' argument conventions (STYLE.md), checked on the sources with the TypeScript parser: every field of
 * every exported interface is `readonly` and documented, and every optional field says what happens when it is left
 * out (`@default <literal>` or `@default - <sentence>`).
 */
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import * as ts from "typescript";
import { REPO_ROOT } from "./harness.js";

const COMPONENTS = path.join(REPO_ROOT, "src", "components");

interface Field {
  readonly where: string;
  readonly optional: boolean;
  readonly readonly: boolean;
  readonly doc: string;
}

function fieldsOf(file: string): Field[] {
  const source = ts.createSourceFile(file, readFileSync(path.join(COMPONENTS, file), "utf8"), ts.ScriptTarget.ES2022, true);
  const out: Field[] = [];
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || !node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) return;
    for (const member of node.members) {
      if (!ts.isPropertySignature(member)) continue;
      out.push({
        where: `${file} ${node.name.text}.${member.name.getText(source)}`,
        optional: member.questionToken !== undefined,
        readonly: member.modifiers?.some((m) => m.kind === ts.SyntaxKind.ReadonlyKeyword) ?? false,
        doc: ts
          .getJSDocCommentsAndTags(member)
          .map((d) => d.getText(source))
          .join("\n"),
      });
    }
  });
  return out;
}

describe("components: argument documentation (TSDoc on the sources)", () => {
  const fields = readdirSync(COMPONENTS)
    .filter((f) => f.endsWith(".ts"))
    .flatMap(fieldsOf);

  it("GIVEN the component sources WHEN parsed THEN they declare the argument interfaces this test is about", () => {
    // A parser change that found nothing would make the next tests pass vacuously.
    const args = fields.filter((f) => / [A-Za-z]+(Args|Options)\./.test(f.where));
    expect(args.length).to.be.greaterThan(60);
    expect(fields.map((f) => f.where)).to.include("data-clean-room.ts DataCleanRoomArgs.codePolicy");
  });

  it("GIVEN every field of an exported interface WHEN read THEN it is readonly and has TSDoc", () => {
    const bad = fields.filter((f) => !f.readonly || f.doc.trim() === "").map((f) => `${f.where}${f.readonly ? "" : " (not readonly)"}`);
    expect(bad, bad.join("\n")).to.deep.equal([]);
  });

  it("GIVEN every optional field WHEN read THEN its TSDoc ends in @default (a literal or `- <sentence>`)", () => {
    const bad = fields.filter((f) => f.optional && !/@default\s+\S/.test(f.doc)).map((f) => f.where);
    expect(bad, bad.join("\n")).to.deep.equal([]);
  });
});
