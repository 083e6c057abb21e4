// `tapio status`: the state of a running agent, for a person.
export async function runStatus(_argv: string[]): Promise<number> {
  process.stderr.write('tapio status: not available yet\n');
  return 1;
}
