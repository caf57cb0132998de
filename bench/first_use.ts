// First use of a curve: the time of the first getPublicKey in a fresh process (building the base-point
// table, plus the JIT's first compilation of the curve code), beside the time of the second call.
// Each curve runs in its own process so nothing is warm. Usage: deno run --allow-run --allow-read bench/first_use.ts

const runs = 5;
for (const curve of ["p256", "p384", "p521"]) {
  const firsts: number[] = [], seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const code = `
      const { ${curve} } = await import(${
      JSON.stringify(new URL(`../crypto/${curve}.ts`, import.meta.url).href)
    });
      const sk = ${curve}.randomSecretKey();
      let t = performance.now(); ${curve}.getPublicKey(sk); const first = performance.now() - t;
      t = performance.now(); ${curve}.getPublicKey(sk); const second = performance.now() - t;
      console.log(JSON.stringify({ first, second }));`;
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", "--quiet", code], stdout: "piped" })
      .output();
    const { first, second } = JSON.parse(new TextDecoder().decode(out.stdout));
    firsts.push(first);
    seconds.push(second);
  }
  const med = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
  console.log(
    `${curve}: first getPublicKey ${med(firsts).toFixed(1)} ms (median of ${runs} fresh processes), ` +
      `then ${med(seconds).toFixed(2)} ms`,
  );
}
