/* An untrusted program racing its sandbox from its first instruction: it
 * raises every soft limit to its hard one and forks as fast as it can,
 * then says what it got. Static, so nothing runs before main but libc's
 * own start-up. */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void) {
	static const int res[] = {RLIMIT_NOFILE, RLIMIT_FSIZE, RLIMIT_CPU, RLIMIT_STACK};
	enum { N = sizeof res / sizeof res[0] };
	struct rlimit seen[N];
	for (int i = 0; i < N; i++) {
		getrlimit(res[i], &seen[i]);
		struct rlimit up = {seen[i].rlim_max, seen[i].rlim_max};
		setrlimit(res[i], &up);
	}
	int children = 0;
	for (int i = 0; i < 200; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			pause();
			_exit(0);
		}
		if (pid < 0)
			break;
		children++;
	}
	for (int i = 0; i < N; i++) {
		struct rlimit now;
		getrlimit(res[i], &now);
		printf("%llu %llu ", (unsigned long long)seen[i].rlim_max, (unsigned long long)now.rlim_cur);
	}
	printf("%d\n", children);
	return 0;
}
