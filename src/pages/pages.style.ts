/** The one stylesheet of the pages, served by the app (no outside fonts or assets). */
import { createHash } from 'node:crypto';

export const STYLESHEET = `
:root{--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--muted:#5b6474;--line:#dde1e7;--up:#1a7f45;--up-bar:#2fb567;--deg:#8a5a00;--deg-bar:#e3a008;--down:#b42318;--down-bar:#d92d20;--none:#c9ced6;--pause:#5b6474;--maint:#3451b2;--maint-bar:#7d95e0;--link:#1d4ed8;--focus:#1d4ed8;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#12151b;--card:#1b2029;--fg:#e7eaf0;--muted:#a3acba;--line:#2c3340;--up:#4ade80;--deg:#fbbf24;--down:#f87171;--none:#3a414d;--pause:#a3acba;--maint:#a5b8ff;--link:#93b4ff;--focus:#93b4ff}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--card);padding:6px 10px;z-index:9}
header.top{background:var(--card);border-bottom:1px solid var(--line)}
header.top .wrap{display:flex;align-items:center;justify-content:space-between;gap:16px;padding-top:14px;padding-bottom:14px}
.brand{font-weight:700;font-size:18px;color:var(--fg);text-decoration:none}
.brand span{color:var(--muted);font-weight:400}
nav ul{display:flex;gap:16px;list-style:none;margin:0;padding:0;align-items:center}
.wrap{max-width:960px;margin:0 auto;padding:0 20px}
main{padding:24px 0 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 12px}h3{font-size:16px;margin:0}
.muted{color:var(--muted)}.small{font-size:13px}
.banner{display:flex;align-items:center;gap:12px;padding:16px 20px;border-radius:10px;margin:16px 0 8px;font-weight:600;font-size:17px;color:#fff}
.banner.up{background:var(--up-bar);color:#06351b}.banner.degraded{background:var(--deg-bar);color:#3b2600}.banner.down{background:var(--down-bar)}.banner.unknown{background:var(--none);color:#1d2330}.banner.maint{background:var(--maint-bar);color:#0f1a40;font-size:15px;display:block}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin:0 0 12px}
.site-head{display:flex;justify-content:space-between;align-items:baseline;gap:12px;flex-wrap:wrap}
.badge{display:inline-flex;align-items:center;gap:6px;font-weight:600;font-size:14px;white-space:nowrap}
.badge::before{content:"";display:inline-block;width:10px;height:10px;border-radius:50%;background:currentColor}
.badge.up{color:var(--up)}.badge.degraded{color:var(--deg)}.badge.degraded::before{border-radius:1px;transform:rotate(45deg)}
.badge.down{color:var(--down)}.badge.down::before{border-radius:1px}.badge.maint{color:var(--maint)}.badge.maint::before{border-radius:2px;background:none;border:2px dotted currentColor}.badge.paused,.badge.unknown{color:var(--pause)}.badge.paused::before,.badge.unknown::before{background:none;border:2px solid currentColor}
.figures{display:flex;flex-wrap:wrap;gap:4px 18px;margin:6px 0 10px;padding:0;list-style:none;font-size:13px;color:var(--muted)}
.figures b{color:var(--fg);font-weight:600}
.bars{display:flex;gap:2px;height:34px;margin:0;padding:0;list-style:none;align-items:stretch}
.bars li{flex:1 1 0;min-width:2px;border-radius:2px;background:var(--none);position:relative}
.bars li.ok{background:var(--up-bar)}.bars li.warn{background:var(--deg-bar)}.bars li.maint{background:var(--maint-bar) radial-gradient(circle,rgba(255,255,255,.55) 1.2px,transparent 1.6px) 0 0/5px 5px}
.bars li.bad{background:var(--down-bar) repeating-linear-gradient(135deg,transparent 0 3px,rgba(255,255,255,.35) 3px 5px)}
.bars li.warn{background-image:linear-gradient(to bottom,transparent 0 50%,rgba(0,0,0,.18) 50%)}
.bars li span{position:absolute;left:-9999px;white-space:nowrap}
.bars li:hover span{left:50%;transform:translateX(-50%);bottom:40px;background:var(--fg);color:var(--bg);font-size:12px;padding:4px 8px;border-radius:6px;z-index:2}
.bars li:first-child:hover span,.bars li:nth-child(-n+4).w1:hover span{left:0;transform:none}.bars li:last-child:hover span{left:auto;right:0;transform:none}
${Array.from({ length: 89 }, (_, i) => `.bars .w${i + 2}{flex-grow:${i + 2}}`).join('')}
.bars li:hover{outline:2px solid var(--fg)}
.bar-scale{display:flex;justify-content:space-between;font-size:12px;color:var(--muted);margin-top:4px}
.legend{display:flex;gap:14px;flex-wrap:wrap;font-size:12px;color:var(--muted);list-style:none;padding:0;margin:8px 0 0}
.legend i{display:inline-block;width:10px;height:14px;border-radius:2px;margin-right:5px;vertical-align:-2px;background:var(--none)}
.legend i.maint{background:var(--maint-bar) radial-gradient(circle,rgba(255,255,255,.55) 1.2px,transparent 1.6px) 0 0/5px 5px}.legend i.ok{background:var(--up-bar)}.legend i.warn{background:var(--deg-bar) linear-gradient(to bottom,transparent 0 50%,rgba(0,0,0,.18) 50%)}.legend i.bad{background:var(--down-bar) repeating-linear-gradient(135deg,transparent 0 3px,rgba(255,255,255,.35) 3px 5px)}
details{margin-top:8px;font-size:14px}summary{cursor:pointer;color:var(--muted)}
.row{display:grid;grid-template-columns:minmax(0,1fr) 220px;gap:16px;align-items:end}
@media (max-width:640px){.row{grid-template-columns:1fr}}
svg.chart{max-width:100%;height:auto;display:block}
.card>h2:first-child,.card>section>h2:first-child{margin-top:0}
svg.chart .line{fill:none;stroke:var(--link);stroke-width:1.6}
svg.chart .dot{fill:var(--link)}
svg.chart .area{fill:var(--link);opacity:.12}
svg.chart .axis{stroke:var(--line)}
svg.chart text{fill:var(--muted);font-size:10px}
.incident{border-left:4px solid var(--down-bar)}.incident.resolved{border-left-color:var(--line)}
.incident h3 a{color:var(--fg)}
table{border-collapse:collapse;width:100%;font-size:14px;background:var(--card)}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:var(--muted)}
tbody th{font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
ol.timeline{list-style:none;padding:0;margin:0;border-left:2px solid var(--line)}
ol.timeline li{padding:0 0 14px 16px;position:relative}
ol.timeline li::before{content:"";position:absolute;left:-6px;top:6px;width:10px;height:10px;border-radius:50%;background:var(--card);border:2px solid var(--muted)}
form.stack label{display:block;font-weight:600;margin:14px 0 4px}
form.stack .hint{font-weight:400;color:var(--muted);font-size:13px}
input[type=text],input[type=url],input[type=password],input[type=number],textarea,select{width:100%;padding:8px 10px;border:1px solid var(--muted);border-radius:6px;font:inherit;background:var(--card);color:var(--fg)}
textarea{min-height:70px}
fieldset{border:1px solid var(--line);border-radius:8px;margin:14px 0 0;padding:4px 14px 12px}legend{font-weight:600;padding:0 4px}
.check{display:flex;gap:8px;align-items:center;margin-top:12px;font-weight:600}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:0 16px}
button,.button{display:inline-block;padding:8px 14px;border-radius:6px;border:1px solid var(--link);background:var(--link);color:#fff;font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
button.secondary,.button.secondary{background:transparent;color:var(--link)}
button.danger{background:var(--down);border-color:var(--down)}
button.link{background:none;border:none;color:var(--link);padding:0;font-weight:400;text-decoration:underline}
.actions{display:flex;gap:8px;flex-wrap:wrap;margin:12px 0}
.actions form{margin:0}
.errors{border:2px solid var(--down);border-radius:8px;padding:10px 16px;margin:12px 0;background:var(--card)}
.errors h2{margin:0 0 6px;font-size:16px;color:var(--down)}
.notice{border:2px solid var(--up);border-radius:8px;padding:10px 16px;margin:12px 0}
.warnings{border:2px solid var(--deg);border-radius:8px;padding:10px 16px;margin:12px 0;background:var(--card)}
.warnings h2{margin:0 0 6px;font-size:16px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
footer{border-top:1px solid var(--line);padding:16px 0;color:var(--muted);font-size:13px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
`;

/** A stylesheet URL that changes with its content, so that it can be kept for a year. */
export const STYLESHEET_PATH = `/assets/gatewatch.${createHash('sha1').update(STYLESHEET).digest('hex').slice(0, 10)}.css`;
