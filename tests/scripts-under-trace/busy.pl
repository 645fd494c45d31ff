# SPDX-License-Identifier: MIT
# A Perl program that allocates a great deal (hashes, strings, regexes, a child process)
# and prints a deterministic result, then exits with status 3; traced and untraced runs
# must print the same bytes and exit the same way.
#
# Usage: perl busy.pl
use strict;
use warnings;

my $state = 4242;
sub rnd { $state = ($state * 1103515245 + 12345) % 2147483648; return $state; }

my %count;
my @words;
for (1 .. 100000) {
	my $w = 'w' . (rnd() % 991);
	push @words, $w;
	$count{$w}++;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
print "top words: ", join(', ', map { "$_=$count{$_}" } @top), "\n";

my $text = join ' ', @words[0 .. 19999];
my $matches = () = $text =~ /\bw1\d\b/g;
(my $upper = $text) =~ s/w(\d+)/W$1/g;
printf "text %d matches %d upper %s\n", length $text, $matches, substr($upper, 0, 30);

my %nested;
for my $i (0 .. 4999) {
	$nested{ sprintf 'k%05d', $i } = { square => $i * $i, list => [ map { $_ * $i } 1 .. 5 ] };
}
my $sum = 0;
$sum += $nested{$_}{square} + $nested{$_}{list}[4] for keys %nested;
print "nested sum $sum\n";

my $packed = pack 'N*', 1 .. 1000;
my @back = unpack 'N*', $packed;
print "packed ", length $packed, " back ", scalar @back, " last $back[-1]\n";

my $out = `/bin/echo child says hello`;
print "child: $out";
system('/bin/sh', '-c', 'exit 0') == 0 or die "system failed\n";

exit 3;
