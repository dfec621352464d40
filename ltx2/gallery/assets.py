"""The gallery page's inline style and script (no CDN, no fonts, no server: the page works from file://)."""

CSS = """
*{box-sizing:border-box}
body{margin:0;padding:12px;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b1b1b;background:#f5f5f3}
h1{font-size:18px;margin:0 0 8px;overflow-wrap:anywhere}
.muted{color:#666;font-size:12px}
.controls{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;gap:8px;align-items:center;
  background:#f5f5f3;padding:6px 0;border-bottom:1px solid #ddd;margin-bottom:8px}
.controls input[type=range]{flex:1 1 160px;min-width:0}
button{font:inherit;padding:4px 12px;border:1px solid #999;border-radius:4px;background:#fff;cursor:pointer}
button[aria-selected=true]{background:#1b1b1b;color:#fff}
.tabs{display:flex;flex-wrap:wrap;gap:4px;margin:6px 0}
.grid{display:grid;gap:8px;grid-template-columns:repeat(var(--cols),minmax(0,1fr))}
.colhead{font-weight:600;font-size:12px;overflow-wrap:anywhere}
.cell{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;min-width:0;overflow-wrap:anywhere}
.cell video,.cell img{display:block;width:100%;height:auto;background:#000;border-radius:3px}
.cell .label{font-weight:600;font-size:13px}
.cell.failed{border-color:#c62828;background:#fdecea}
.cell.empty{border-style:dashed;color:#999}
.status-failed{color:#c62828;font-weight:700}
.error{font-family:ui-monospace,monospace;font-size:11px;white-space:pre-wrap;max-height:8em;overflow:auto}
.badge{display:inline-block;padding:0 5px;margin:1px;border-radius:3px;font-size:11px;background:#eee}
.badge.bad{background:#c62828;color:#fff}
table{border-collapse:collapse;font-size:12px;display:block;overflow-x:auto;max-width:100%}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.cards{display:grid;gap:8px;grid-template-columns:repeat(auto-fill,minmax(min(100%,240px),1fr))}
details{margin:8px 0}
@media (max-width:700px){.grid{grid-template-columns:minmax(0,1fr)}.colhead{display:none}}
"""

# One control for every video of the page: play / pause / scrub together. The first ready video is the clock;
# each animation frame, a video more than half a frame (1/48 s) away from it is moved to the clock's time.
SCRIPT = """
(function(){
  const videos=[...document.querySelectorAll('video.sync')];
  const play=document.getElementById('play'), scrub=document.getElementById('scrub'),
        time=document.getElementById('time'), loop=document.getElementById('loop');
  if(!play){return;}
  const visible=()=>videos.filter(v=>v.offsetParent!==null);
  const clock=()=>visible()[0]||videos[0];
  const duration=()=>Math.max(0,...videos.map(v=>isFinite(v.duration)?v.duration:0));
  let playing=false;
  function seekAll(t){videos.forEach(v=>{if(Math.abs(v.currentTime-t)>1e-3){v.currentTime=Math.min(t,v.duration||t);}});}
  function show(){const c=clock(); if(!c){return;} const d=duration();
    scrub.value=d?String(c.currentTime/d*1000):'0'; time.textContent=c.currentTime.toFixed(2)+' / '+d.toFixed(2)+' s';}
  function tick(){
    const c=clock();
    if(playing&&c){
      videos.forEach(v=>{if(v!==c&&!v.ended&&Math.abs(v.currentTime-c.currentTime)>1/48){v.currentTime=c.currentTime;}});
      if(c.ended){
        if(loop.checked){seekAll(0);videos.forEach(v=>v.play().catch(()=>{}));}
        else{playing=false;play.textContent='Play';}
      }
    }
    show(); requestAnimationFrame(tick);
  }
  play.addEventListener('click',()=>{
    if(playing){playing=false;videos.forEach(v=>v.pause());seekAll(clock().currentTime);play.textContent='Play';return;}
    const c=clock(); if(c&&c.ended){seekAll(0);} else if(c){seekAll(c.currentTime);}
    playing=true; play.textContent='Pause';
    videos.forEach(v=>v.play().catch(()=>{}));
  });
  scrub.addEventListener('input',()=>{seekAll(Number(scrub.value)/1000*duration());});
  document.querySelectorAll('[data-tab]').forEach(b=>b.addEventListener('click',()=>{
    document.querySelectorAll('[data-tab]').forEach(x=>x.setAttribute('aria-selected',String(x===b)));
    document.querySelectorAll('.tabpage').forEach(p=>{p.hidden=p.id!==b.dataset.tab;});
  }));
  requestAnimationFrame(tick);
})();
"""

RUNS_SCRIPT = """
(function(){
  const filter=document.getElementById('filter');
  filter.addEventListener('input',()=>{const q=filter.value.toLowerCase();
    document.querySelectorAll('.card').forEach(c=>{c.hidden=!!q&&!c.textContent.toLowerCase().includes(q);});});
})();
"""
