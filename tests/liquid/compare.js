#!/usr/bin/env node
// compare.js — renders every template of corpus.json with cohortd (`cohortd render-template`)
// and with brazejs (a Liquid engine for Braze's variant), for the fixed user of profile.json,
// and fails unless both give the same text — except for the known differences listed below,
// each with its reason, which must still differ and must give exactly the output cohortd
// documents (docs/templates.md). Usage: node compare.js COHORTD_BINARY
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const Liquid = require('brazejs').default;

// The known differences: name → what cohortd gives (exactly) and why brazejs differs. Each
// must still differ; one brazejs starts to agree with fails the test until it is removed.
const KNOWN = require('./known.js');

function main() {
  const bin = process.argv[2];
  if (!bin) {
    console.error('usage: node compare.js COHORTD_BINARY');
    process.exit(2);
  }
  const corpus = JSON.parse(fs.readFileSync(path.join(__dirname, 'corpus.json'), 'utf8'));
  const profile = JSON.parse(fs.readFileSync(path.join(__dirname, 'profile.json'), 'utf8'));
  return run(bin, corpus, profile, KNOWN);
}

// The context brazejs reads: ${tag} at the top, namespaces as objects.
function brazeContext(profile, scope) {
  const a = profile.user.attributes;
  const props = profile.properties;
  const ctx = {
    user_id: profile.user.external_id,
    braze_id: profile.user.braze_id,
    first_name: a.first_name, last_name: a.last_name, email_address: a.email,
    phone_number: a.phone, country: a.country, language: a.language, city: a.home_city,
    gender: a.gender, date_of_birth: a.dob, time_zone: a.time_zone,
    custom_attribute: a,
    event_properties: profile.event_properties,
    campaign: profile.campaign,
  };
  if (scope === 'canvas') {
    ctx.canvas_entry_properties = props;
    ctx.context = props;
    ctx.canvas = profile.canvas;
  } else {
    ctx.api_trigger_properties = props;
  }
  return ctx;
}

async function braze(engine, c, profile) {
  try {
    // a fresh copy each time: brazejs sorts arrays in place
    const ctx = brazeContext(JSON.parse(JSON.stringify(profile)), c.scope);
    let out = await engine.parseAndRender(c.template, ctx);
    if (c.url) // cohortd percent-encodes inserted values in URLs; brazejs knows no URL context
      out = null;
    return { result: 'ok', output: out };
  } catch (e) {
    return { result: 'error', output: String(e.message) };
  }
}

async function run(bin, corpus, profile, known) {
  const cases = corpus.map((c) => ({
    template: c.template, scope: c.scope || 'campaign', url: !!c.url, user: profile.user,
    properties: profile.properties, event_properties: profile.event_properties,
    campaign: profile.campaign, canvas: c.scope === 'canvas' ? profile.canvas : undefined,
    now: profile.now,
  }));
  const ours = JSON.parse(execFileSync(bin, ['render-template'], { input: JSON.stringify(cases) }));
  const engine = new Liquid();
  let failed = 0, same = 0, differ = 0;
  const names = new Set();
  for (let i = 0; i < corpus.length; i++) {
    const c = corpus[i];
    if (names.has(c.name)) { console.log(`FAIL ${c.name}: duplicate name`); failed++; }
    names.add(c.name);
    const o = ours[i];
    // an aborted render is compared by its reason: brazejs renders the abort text alone
    const mine = o.result === 'ok' ? o.output : o.result === 'aborted' ? o.reason : `<${o.result}: ${o.reason || o.message}>`;
    const ref = await braze(engine, c, profile);
    const k = known[c.name];
    if (k) {
      if (!k.reason) { console.log(`FAIL ${c.name}: a known difference needs a reason`); failed++; }
      if (mine !== k.cohortd) {
        console.log(`FAIL ${c.name}: cohortd gave ${JSON.stringify(mine)}, documented ${JSON.stringify(k.cohortd)}`);
        failed++;
      } else if (ref.output === mine) {
        console.log(`FAIL ${c.name}: listed as a difference but brazejs agrees now; remove it from known.js`);
        failed++;
      } else {
        differ++;
      }
      continue;
    }
    if (ref.result !== 'ok' || ref.output !== mine) {
      console.log(`FAIL ${c.name}: template ${JSON.stringify(c.template)}\n  cohortd  ${JSON.stringify(mine)}\n  brazejs  ${JSON.stringify(ref.output)}`);
      failed++;
    } else {
      same++;
    }
  }
  for (const name of Object.keys(known))
    if (!names.has(name)) { console.log(`FAIL known.js names ${name}, which is not in the corpus`); failed++; }
  console.log(`liquid: ${corpus.length} templates, ${same} identical, ${differ} known differences, ${failed} failures`);
  if (corpus.length < 150) { console.log('FAIL the corpus needs at least 150 templates'); failed++; }
  process.exit(failed ? 1 : 0);
}

main();
