// The load test (npm run test:load): not part of npm test until it passes; see the README.
export default {
  files: ['dist/test/load/**/*.test.js'],
  timeout: '10m',
  workerThreads: false,
};
